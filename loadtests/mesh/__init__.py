"""Region meshes: the point-to-point network time between every ordered pair of delay-echo
instances (issue 11), measured through relay hops (`?hop=b`), and its local rehearsal on an
emulated network (loadtests/netlab) whose delays are the ground truth.

`python -m loadtests.mesh run` (make mesh) and `python -m loadtests.mesh local` (make mesh-local);
see README.md in this folder.
"""
