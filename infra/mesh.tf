# Regions and the relay mesh: which regions get a service, which receive the image by ECR
# replication, and the peers each service is told about. Pure functions of variables (no
# resources, no data sources), so the plan-shaped test can evaluate them with `terraform console`
# on this file and variables.tf alone, without providers.
#
# Peer URLs exist only after the services do, so they arrive in a second service apply:
# `make infra` writes the `service_urls` output to mesh.auto.tfvars.json (variable peer_urls)
# and applies again. Until then every service runs with DELAY_ECHO_REGION and no peers.

locals {
  # aws_region is the home region: the ECR repository, IAM and the dashboard live there.
  service_regions = length(var.regions) > 0 ? var.regions : [var.aws_region]
  replica_regions = [for r in local.service_regions : r if r != var.aws_region]

  # Peer names are region codes: hop=us-east-1 forwards to the us-east-1 service.
  mesh_peers = {
    for r in local.service_regions : r => [
      for p in local.service_regions : "${p}=${var.peer_urls[p]}" if p != r && contains(keys(var.peer_urls), p)
    ]
  }

  region_environment = {
    for r in local.service_regions : r => merge(
      { DELAY_ECHO_REGION = r },
      length(local.mesh_peers[r]) > 0 ? { DELAY_ECHO_PEERS = join(",", local.mesh_peers[r]) } : {},
    )
  }
}
