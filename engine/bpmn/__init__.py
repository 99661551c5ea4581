"""The BPMN runtime: parser extensions, the script sandbox, the process registry
and the serializer. Everything SpiffWorkflow-specific lives below this package."""
