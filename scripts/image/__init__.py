"""The image's scripts: the Docker build context as .dockerignore makes it (context.py), the
static build, the container engine commands and the local registry (shell).
"""
