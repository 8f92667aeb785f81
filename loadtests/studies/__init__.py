"""Studies: named A/B experiments rehearsed on an emulated network (loadtests/netlab).

Each study is one TOML file in this folder (cdn, path, cache-vs-db), read and validated by
`study.py`; `runner.py` builds its network, starts its services, drives A and B with k6 or locust
and writes the compare report; `edge.py` is the nginx edge cache the cdn study puts in front of
its origin. `python -m loadtests.studies` is the command line (`make <name>-local`).
"""
