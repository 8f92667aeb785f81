"""Offline checks of delay-echo's Kubernetes manifests (deploy/kubernetes).

`python -m deploy.k8scheck` renders every overlay with kubectl's kustomize and runs, on what it
rendered, each validator named in a finding:

- ``render``: kustomize itself (a missing file, a bad patch, a replacement that selects nothing);
- ``kubernetes-schema``: core kinds against the Kubernetes 1.37 JSON schemas that PyPI
  ``kubernetes-validate`` ships, strict (an unknown field is an error, as with ``kubectl apply``);
- ``crd-schema``: custom resources (KEDA ScaledObject, Knative Service) against the CRDs' own
  OpenAPI schemas, vendored in deploy/schemas, made strict the same way;
- ``rules``: what no schema can see, mirrored from the code that would reject or mis-run it in a
  cluster (Knative's annotation webhook, KEDA's prometheus trigger parser) or from this service's
  own contract (probes, shutdown arithmetic, hardening, metric names);
- ``checkov``: checkov's Kubernetes checks, every skip an annotation with its reason.

A kind with no schema at all is a finding too: nothing goes unchecked silently.
"""
