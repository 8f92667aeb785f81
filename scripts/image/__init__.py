"""The image's scripts: the Docker build context without an engine (context.py), the static build
and the sandboxed run (shell).
"""
