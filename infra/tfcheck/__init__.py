"""Offline checks of the Terraform in infra/ and infra/cloudrun: no terraform, provider binaries or
cloud access needed. Each module is also a command, run from the repository's root
(`python -m infra.tfcheck.<module>`):

- ``hcl_module``: one directory of Terraform parsed (python-hcl2, explicit blocks) into
  declarations, blocks and the references between them; the others read it;
- ``provider_schema``: the providers' own schemas, read from the pinned cdktn provider wheels;
- ``schemacheck``: every type, argument, block and reference against those schemas;
- ``conventions``: what no schema says (every variable typed, described and used; every local used);
- ``checkov_gate``: checkov offline, failing on parse errors and skips without a reason.

The tests (infra/tests, `make test-infra`) show each one catching its broken fixture.
"""
