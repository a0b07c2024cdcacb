"""The baseline: a hello-world Flask JSON endpoint under the same gunicorn settings."""

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/hello")
def hello():
    return jsonify(code=0, message="hello", data={"items": ["a", "b", "c"]})
