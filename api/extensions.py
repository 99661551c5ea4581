"""Flask extensions, created once and initialised in create_app."""

from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy

from engine.models import Base

db = SQLAlchemy(metadata=Base.metadata, session_options={"expire_on_commit": False})
api = Api()
