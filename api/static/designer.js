/* The process designer's editor page (api/designer, designer_editor.html.j2): the bpmn-js
   modeler with the Camunda 7 properties panel, or dmn-js for a decision table; save a draft,
   validate (problems marked on the diagram), deploy, export. Texts come from the page (Danish
   or English), the server decides everything. */
(function () {
  "use strict";
  var root = document.getElementById("designer");
  if (!root) { return; }
  var texts = JSON.parse(document.getElementById("designer-tekster").textContent);
  var references = JSON.parse(document.getElementById("designer-henvisninger").textContent);
  var status = document.getElementById("status");
  var lockVersion = root.dataset.lockVersion ? parseInt(root.dataset.lockVersion, 10) : null;
  var bpmn = root.dataset.kind === "bpmn";
  var dirty = false;
  var modeler;
  var marked = [];

  function say(message, bad) {
    status.textContent = message;
    status.className = bad ? "flash error" : "flash";
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json",
                "X-CSRFToken": root.dataset.csrf},
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {message: response.statusText}; })
        .then(function (json) { return {status: response.status, body: json}; });
    });
  }

  function currentXml() {
    return modeler.saveXML({format: true}).then(function (result) { return result.xml; });
  }

  function clearMarks() {
    if (!bpmn) { return; }
    var canvas = modeler.get("canvas");
    marked.forEach(function (id) { canvas.removeMarker(id, "har-fejl"); });
    marked = [];
  }

  function showProblems(problems, message) {
    var section = document.getElementById("problemer");
    var list = document.getElementById("problemliste");
    list.textContent = "";
    clearMarks();
    section.hidden = !problems.length;
    var registry = bpmn ? modeler.get("elementRegistry") : null;
    problems.forEach(function (problem) {
      var item = document.createElement("li");
      var where = [problem.file, problem.element_id, problem.element_name ? "(" + problem.element_name + ")" : ""]
        .filter(Boolean).join(" ");
      item.textContent = (where ? where + ": " : "") +
        (problem.regel ? problem.regel + ". " : "") + problem.message;
      if (registry && problem.element_id && registry.get(problem.element_id)) {
        modeler.get("canvas").addMarker(problem.element_id, "har-fejl");
        marked.push(problem.element_id);
        var show = document.createElement("button");
        show.type = "button";
        show.textContent = texts.show;
        show.className = "link";
        show.addEventListener("click", function () {
          var element = registry.get(problem.element_id);
          modeler.get("selection").select(element);
          modeler.get("canvas").scrollToElement(element);
        });
        item.appendChild(document.createTextNode(" "));
        item.appendChild(show);
      }
      list.appendChild(item);
    });
    if (problems.length) {
      say(message || texts.invalid, true);
      document.getElementById("h-problemer").focus();
    }
  }

  function showReferences(elementId) {
    var list = document.getElementById("henvisninger");
    if (!list) { return; }
    list.textContent = "";
    var refs = elementId ? (references[elementId] || []) : null;
    if (!refs || !refs.length) {
      var none = document.createElement("li");
      none.textContent = refs ? texts.none : texts.choose;
      list.appendChild(none);
      return;
    }
    refs.forEach(function (ref) {
      var item = document.createElement("li");
      item.appendChild(document.createTextNode(texts.kinds[ref.kind] + ": "));
      if (ref.exists) {
        var link = document.createElement("a");
        link.href = ref.url;
        link.textContent = ref.key;
        item.appendChild(link);
      } else {
        item.appendChild(document.createTextNode(ref.key + " (" + texts.missing + ")"));
      }
      list.appendChild(item);
    });
  }

  function failure(result) {
    var body = result.body || {};
    if (body.problems && body.problems.length) {
      showProblems(body.problems, body.besked || body.message);
      return;
    }
    say(texts.failed + ": " + (body.besked || body.message || result.status), true);
  }

  function save() {
    return currentXml().then(function (xml) {
      return post(root.dataset.saveUrl, {xml: xml, lock_version: lockVersion});
    }).then(function (result) {
      if (result.status === 200) {
        lockVersion = result.body.lock_version;
        root.dataset.lockVersion = String(lockVersion);
        if (result.body.references) { references = result.body.references; }
        dirty = false;
        document.getElementById("kasser-form").hidden = false;
        say(texts.saved);
      } else if (result.status === 409) {
        say(texts.conflict, true);
      } else {
        failure(result);
      }
      return result;
    });
  }

  function validate() {
    return currentXml().then(function (xml) {
      return post(root.dataset.validateUrl, {xml: xml});
    }).then(function (result) {
      if (result.status !== 200) { failure(result); return result; }
      if (result.body.references) { references = result.body.references; }
      showProblems(result.body.problems);
      if (result.body.ok) { say(texts.valid); }
      root.dataset.validated = result.body.ok ? "ok" : "problems";
      return result;
    });
  }

  function deploy() {
    if (!window.confirm(texts.confirm_deploy)) { return Promise.resolve(null); }
    return currentXml().then(function (xml) {
      return post(root.dataset.deployUrl, {xml: xml, lock_version: lockVersion});
    }).then(function (result) {
      if (result.status !== 200) { failure(result); return result; }
      showProblems([]);
      dirty = false;
      lockVersion = null;
      document.getElementById("kasser-form").hidden = true;
      say(result.body.message);
      root.dataset.deployed = JSON.stringify(result.body.versions);
      return result;
    });
  }

  function exportFile() {
    return currentXml().then(function (xml) {
      var link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([xml], {type: "application/xml"}));
      link.download = root.dataset.file;
      document.body.appendChild(link);
      link.click();
      link.remove();
    });
  }

  function start() {
    var setup;
    if (bpmn) {
      var panel = window.BpmnJSPropertiesPanel;
      setup = fetch(root.dataset.camundaUrl, {credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (camunda) {
          modeler = new window.BpmnJS({
            container: "#modeller",
            propertiesPanel: {parent: "#egenskaber"},
            additionalModules: [panel.BpmnPropertiesPanelModule, panel.BpmnPropertiesProviderModule,
                                panel.CamundaPlatformPropertiesProviderModule],
            moddleExtensions: {camunda: camunda}
          });
        });
    } else {
      modeler = new window.DmnJS({container: "#modeller"});
      setup = Promise.resolve();
    }
    return setup.then(function () {
      return fetch(root.dataset.xmlUrl, {credentials: "same-origin"});
    }).then(function (r) { return r.text(); })
      .then(function (xml) { return modeler.importXML(xml); })
      .then(function () {
        if (bpmn) {
          modeler.get("canvas").zoom("fit-viewport");
          modeler.on("selection.changed", function (event) {
            var selected = event.newSelection[0];
            showReferences(selected ? selected.id : null);
          });
          modeler.on("commandStack.changed", function () { dirty = true; });
        } else {
          var active = modeler.getActiveViewer();
          if (active) { active.on("commandStack.changed", function () { dirty = true; }); }
        }
        root.dataset.ready = "1";
      })
      .catch(function (error) { say(texts.load_failed + ": " + error.message, true); });
  }

  /* A test run runs the saved draft: unsaved changes are saved first. */
  var tryLink = document.getElementById("proevekoer");
  if (tryLink) {
    tryLink.addEventListener("click", function (event) {
      if (!dirty) { return; }
      event.preventDefault();
      save().then(function (result) {
        if (result && result.status === 200) { window.location.href = tryLink.href; }
      });
    });
  }
  /* Scenarios replay against the saved draft: unsaved changes are saved first. */
  var scenarioForm = document.getElementById("scenarier-form");
  if (scenarioForm) {
    scenarioForm.addEventListener("submit", function (event) {
      if (!dirty) { return; }
      event.preventDefault();
      save().then(function (result) {
        if (result && result.status === 200) { dirty = false; scenarioForm.submit(); }
      });
    });
  }
  document.getElementById("gem").addEventListener("click", save);
  document.getElementById("valider").addEventListener("click", validate);
  document.getElementById("udrul").addEventListener("click", deploy);
  document.getElementById("eksporter").addEventListener("click", exportFile);
  window.addEventListener("beforeunload", function (event) {
    if (dirty) { event.preventDefault(); event.returnValue = texts.unsaved; }
  });
  document.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && event.key === "s") { event.preventDefault(); save(); }
  });
  window.sagsflowDesigner = {save: save, validate: validate, deploy: deploy,
                             modeler: function () { return modeler; }};
  start();
})();
