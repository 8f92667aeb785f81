"""The platform's own view of a cloud run (`make platform-view`): the service's per-instance log
streams and CloudWatch metrics for the run's window, written into the run folder's platform.jsonl
in the local platform's event vocabulary, and the report rendered again with both views of supply.
README.md beside this file has the commands, what is read and the permissions it needs.
"""
