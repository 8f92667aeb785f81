# Inputs of the delay-echo study stack. Every variable is typed, described, and validated where
# AWS documents a range, so a bad value fails at `terraform plan` with the allowed values in the
# message instead of minutes into an apply. Cross-variable rules (min <= max, a chosen name that
# must exist in a map) live in resource preconditions because Terraform < 1.9 cannot express them
# in variable validation and this stack supports Terraform >= 1.6.

# ---------------------------------------------------------------------------------------------
# General
# ---------------------------------------------------------------------------------------------

variable "aws_region" {
  type        = string
  description = "AWS region for every resource. App Runner exists only in some regions; ECS Express Mode in every commercial region."
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be a region code such as eu-west-1 or us-east-1."
  }
}

variable "name" {
  type        = string
  description = "Base name of the stack: ECR repository, service, cluster, roles and dashboard are named after it."
  default     = "delay-echo"

  validation {
    # ECR wants lower case; App Runner service names allow 4-40 characters; role names get
    # suffixes of up to 24 characters and must stay within IAM's 64.
    condition     = can(regex("^[a-z][a-z0-9-]{3,29}$", var.name))
    error_message = "name must be 4-30 characters: a lower-case letter, then lower-case letters, digits or '-'."
  }
}

variable "platform" {
  type        = string
  description = "Which platform runs the service: \"apprunner\" (the original target; closed to new AWS customers since 2026-04-30) or \"ecs-express\" (Amazon ECS Express Mode, what AWS recommends instead)."
  default     = "ecs-express"

  validation {
    condition     = contains(["apprunner", "ecs-express"], var.platform)
    error_message = "platform must be \"apprunner\" or \"ecs-express\"."
  }
}

variable "create_service" {
  type        = bool
  description = "Create the service and its dashboard. `make infra` first applies with false (repository, roles) so the image can be pushed before anything tries to pull it, then with true."
  default     = true
}

variable "regions" {
  type        = list(string)
  description = "Regions that each run one service (the relay mesh). Empty runs one service in aws_region; otherwise it must include aws_region, the home region whose ECR repository replicates the image to the others."
  default     = []

  validation {
    condition     = alltrue([for r in var.regions : can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$", r))]) && length(distinct(var.regions)) == length(var.regions)
    error_message = "regions must be distinct region codes such as eu-west-1 or us-east-1."
  }

  validation {
    condition     = length(var.regions) <= 26
    error_message = "regions takes at most 26 regions: ECR replicates to at most 25 destinations besides the home region."
  }
}

variable "peer_urls" {
  type        = map(string)
  description = "Service URL per region, told to every other service as DELAY_ECHO_PEERS (name=url, names are region codes). make infra writes it to mesh.auto.tfvars.json from the service_urls output once the services exist; leave it empty otherwise."
  default     = {}

  validation {
    condition     = alltrue([for u in values(var.peer_urls) : can(regex("^https?://[^,=\\s]+$", u))])
    error_message = "peer_urls values must be http(s) URLs without ',' '=' or spaces."
  }
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for every resource, merged into the provider's default tags."
  default     = {}
}

# ---------------------------------------------------------------------------------------------
# Image and ECR
# ---------------------------------------------------------------------------------------------

variable "image_tag" {
  type        = string
  description = "Tag of the image the service runs. `make infra` pushes this tag when the repository does not hold it yet."
  default     = "latest"

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a Docker tag: 1-128 characters of letters, digits, '_', '.' or '-', not starting with '.' or '-'."
  }
}

variable "mutable_image_tags" {
  type        = list(string)
  description = "Tag filters (ECR wildcards) exempt from tag immutability, e.g. the moving \"latest\" that App Runner automatic deployments follow. Empty makes every tag immutable."
  default     = ["latest"]

  validation {
    condition     = length(var.mutable_image_tags) <= 5
    error_message = "mutable_image_tags takes at most 5 filters (ECR's limit)."
  }

  validation {
    condition     = alltrue([for f in var.mutable_image_tags : can(regex("^[A-Za-z0-9_.*-]{1,128}$", f))])
    error_message = "Each mutable_image_tags filter must be 1-128 characters of letters, digits, '_', '.', '-' or the wildcard '*'."
  }
}

variable "ecr_keep_images" {
  type        = number
  description = "How many images the ECR lifecycle policy keeps; older ones expire."
  default     = 30

  validation {
    condition     = var.ecr_keep_images >= 1 && var.ecr_keep_images <= 10000 && floor(var.ecr_keep_images) == var.ecr_keep_images
    error_message = "ecr_keep_images must be a whole number from 1 to 10000."
  }
}

variable "ecr_force_delete" {
  type        = bool
  description = "Let `terraform destroy` delete the repository even when it still holds images."
  default     = false
}

variable "ecr_kms_key_arn" {
  type        = string
  description = "Customer-managed KMS key for ECR encryption. Null uses the AWS-managed key aws/ecr (still KMS)."
  default     = null

  validation {
    condition     = var.ecr_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.ecr_kms_key_arn))
    error_message = "ecr_kms_key_arn must be null or a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

# ---------------------------------------------------------------------------------------------
# CI identity
# ---------------------------------------------------------------------------------------------

variable "github_subjects" {
  type        = list(string)
  description = "GitHub OIDC subjects (the token's sub claim) allowed to assume the CI role, e.g. \"repo:ORG/REPO:ref:refs/heads/main\" or the immutable form \"repo:ORG@123/REPO@456:ref:refs/heads/main\". '*' is allowed after the repository only."

  validation {
    condition     = length(var.github_subjects) > 0
    error_message = "github_subjects must name at least one subject; an empty list would leave the CI role unusable."
  }

  validation {
    # Pinning organisation and repository (no wildcard there) keeps any other repository on
    # GitHub from assuming the role; the part after the second ':' may use StringLike wildcards.
    condition     = alltrue([for s in var.github_subjects : can(regex("^repo:[A-Za-z0-9_.-]+(@[0-9]+)?/[A-Za-z0-9_.-]+(@[0-9]+)?:[^*].*$", s))])
    error_message = "Each github_subjects entry must look like repo:ORG/REPO:<context> or repo:ORG@ORG_ID/REPO@REPO_ID:<context> (context e.g. ref:refs/heads/main or environment:prod), with no wildcard in ORG, REPO or the start of the context."
  }
}

variable "github_oidc_provider_arn" {
  type        = string
  description = "ARN of an existing GitHub OIDC provider (token.actions.githubusercontent.com) to reuse; an account holds only one. Null creates it."
  default     = null

  validation {
    condition     = var.github_oidc_provider_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.github_oidc_provider_arn))
    error_message = "github_oidc_provider_arn must be null or arn:aws:iam::ACCOUNT:oidc-provider/token.actions.githubusercontent.com."
  }
}

variable "create_legacy_ci_user" {
  type        = bool
  description = "Also create the original experiment's IAM user with a long-lived access key (same permissions as the CI role). Off by default: prefer the OIDC role."
  default     = false
}

# ---------------------------------------------------------------------------------------------
# The service, both platforms
# ---------------------------------------------------------------------------------------------

variable "service_environment" {
  type        = map(string)
  description = "Environment of the service: DELAY_ECHO_* settings (and RUST_LOG). PORT=8080 is always set; DELAY_ECHO_LISTEN is refused because the platforms probe port 8080."
  default = {
    DELAY_ECHO_LOG_FORMAT = "json"
  }

  validation {
    condition     = alltrue([for k in keys(var.service_environment) : !startswith(k, "AWSAPPRUNNER")])
    error_message = "service_environment keys starting with AWSAPPRUNNER are reserved by App Runner."
  }

  validation {
    condition     = alltrue([for k in keys(var.service_environment) : can(regex("^(DELAY_ECHO_[A-Z0-9_]+|RUST_LOG)$", k)) && k != "DELAY_ECHO_LISTEN"])
    error_message = "service_environment keys must be DELAY_ECHO_<FLAG> (except DELAY_ECHO_LISTEN: the port is fixed at 8080) or RUST_LOG."
  }
}

# ---------------------------------------------------------------------------------------------
# App Runner
# ---------------------------------------------------------------------------------------------

variable "apprunner_autoscaling_configurations" {
  type = map(object({
    max_concurrency = number
    min_size        = number
    max_size        = number
  }))
  description = "Named App Runner autoscaling configurations (all are created; apprunner_autoscaling_configuration picks the active one). Defaults are the original experiment's."
  default = {
    single-instance = { max_concurrency = 10, min_size = 1, max_size = 1 }
    multi-instance  = { max_concurrency = 10, min_size = 1, max_size = 5 }
  }

  validation {
    condition     = length(var.apprunner_autoscaling_configurations) > 0
    error_message = "apprunner_autoscaling_configurations needs at least one configuration."
  }

  validation {
    condition     = alltrue([for k in keys(var.apprunner_autoscaling_configurations) : can(regex("^[a-z0-9][a-z0-9-]{2,20}$", k))])
    error_message = "apprunner_autoscaling_configurations keys must be 3-21 characters of lower-case letters, digits or '-' (they become part of a 32-character AWS name)."
  }

  validation {
    condition     = alltrue([for c in values(var.apprunner_autoscaling_configurations) : c.max_concurrency >= 1 && c.max_concurrency <= 200 && floor(c.max_concurrency) == c.max_concurrency])
    error_message = "max_concurrency must be a whole number from 1 to 200 (App Runner's range)."
  }

  validation {
    condition     = alltrue([for c in values(var.apprunner_autoscaling_configurations) : c.min_size >= 1 && c.min_size <= 25 && c.max_size >= 1 && c.max_size <= 25 && floor(c.min_size) == c.min_size && floor(c.max_size) == c.max_size])
    error_message = "min_size and max_size must be whole numbers from 1 to 25 (App Runner's range)."
  }

  validation {
    condition     = alltrue([for c in values(var.apprunner_autoscaling_configurations) : c.min_size <= c.max_size])
    error_message = "Each autoscaling configuration needs min_size <= max_size."
  }
}

variable "apprunner_autoscaling_configuration" {
  type        = string
  description = "Key in apprunner_autoscaling_configurations that the service uses."
  default     = "single-instance"
}

variable "apprunner_instance" {
  type = object({
    cpu    = number
    memory = number
  })
  description = "App Runner instance size: vCPU and memory in GB. Allowed pairs: 0.25/0.5, 0.25/1, 0.5/1, 1/2, 1/3, 1/4, 2/4, 2/6, 4/8, 4/10, 4/12."
  default     = { cpu = 1, memory = 2 }

  validation {
    condition = contains([
      "0.25/0.5", "0.25/1", "0.5/1", "1/2", "1/3", "1/4", "2/4", "2/6", "4/8", "4/10", "4/12",
    ], "${var.apprunner_instance.cpu}/${var.apprunner_instance.memory}")
    error_message = "apprunner_instance must be an allowed vCPU/GB pair: 0.25/0.5, 0.25/1, 0.5/1, 1/2, 1/3, 1/4, 2/4, 2/6, 4/8, 4/10 or 4/12."
  }
}

variable "apprunner_health_check_interval" {
  type        = number
  description = "Seconds between App Runner health checks on /readyz."
  default     = 5

  validation {
    condition     = var.apprunner_health_check_interval >= 1 && var.apprunner_health_check_interval <= 20 && floor(var.apprunner_health_check_interval) == var.apprunner_health_check_interval
    error_message = "apprunner_health_check_interval must be a whole number of seconds from 1 to 20."
  }
}

variable "apprunner_health_check_timeout" {
  type        = number
  description = "Seconds App Runner waits for a /readyz answer."
  default     = 2

  validation {
    condition     = var.apprunner_health_check_timeout >= 1 && var.apprunner_health_check_timeout <= 20 && floor(var.apprunner_health_check_timeout) == var.apprunner_health_check_timeout
    error_message = "apprunner_health_check_timeout must be a whole number of seconds from 1 to 20."
  }
}

variable "apprunner_health_check_healthy_threshold" {
  type        = number
  description = "Consecutive successful checks before an instance counts as healthy."
  default     = 1

  validation {
    condition     = var.apprunner_health_check_healthy_threshold >= 1 && var.apprunner_health_check_healthy_threshold <= 20 && floor(var.apprunner_health_check_healthy_threshold) == var.apprunner_health_check_healthy_threshold
    error_message = "apprunner_health_check_healthy_threshold must be a whole number from 1 to 20."
  }
}

variable "apprunner_health_check_unhealthy_threshold" {
  type        = number
  description = "Consecutive failed checks before an instance counts as unhealthy."
  default     = 5

  validation {
    condition     = var.apprunner_health_check_unhealthy_threshold >= 1 && var.apprunner_health_check_unhealthy_threshold <= 20 && floor(var.apprunner_health_check_unhealthy_threshold) == var.apprunner_health_check_unhealthy_threshold
    error_message = "apprunner_health_check_unhealthy_threshold must be a whole number from 1 to 20."
  }
}

variable "apprunner_auto_deployments" {
  type        = bool
  description = "Redeploy automatically whenever image_tag is pushed again (needs image_tag to be a mutable tag)."
  default     = true
}

variable "apprunner_xray" {
  type        = bool
  description = "Enable App Runner X-Ray tracing (an observability configuration and an instance role that may write traces). Traces appear only if the app exports OTLP to localhost:4317."
  default     = false
}

# ---------------------------------------------------------------------------------------------
# ECS Express Mode
# ---------------------------------------------------------------------------------------------

variable "ecs_task_size" {
  type = object({
    cpu    = number
    memory = number
  })
  description = "Fargate task size: CPU units (1024 = 1 vCPU) and memory in MiB. CPU 256 takes 512-2048 MiB, 512 takes 1024-4096, 1024 takes 2048-8192, 2048 takes 4096-16384, 4096 takes 8192-30720, memory in 1024 MiB steps (plus 512 for CPU 256)."
  default     = { cpu = 1024, memory = 2048 }

  validation {
    condition = contains([256, 512, 1024, 2048, 4096], var.ecs_task_size.cpu) && (
      var.ecs_task_size.cpu == 256 ? contains([512, 1024, 2048], var.ecs_task_size.memory) :
      var.ecs_task_size.memory % 1024 == 0 &&
      var.ecs_task_size.memory >= var.ecs_task_size.cpu * 2 &&
      var.ecs_task_size.memory <= (var.ecs_task_size.cpu == 4096 ? 30720 : var.ecs_task_size.cpu * 8)
    )
    error_message = "ecs_task_size must be a Fargate pair: cpu 256 with memory 512/1024/2048; cpu 512, 1024, 2048 or 4096 with memory from 2x to 8x the CPU units (4096: up to 30720) in 1024 MiB steps."
  }
}

variable "ecs_scaling_metric" {
  type        = string
  description = "Metric the Express service scales on: AVERAGE_CPU (the default: drive it with the service's cpu knob), AVERAGE_MEMORY, or REQUEST_COUNT_PER_TARGET (closest to App Runner's concurrency scaling)."
  default     = "AVERAGE_CPU"

  validation {
    condition     = contains(["AVERAGE_CPU", "AVERAGE_MEMORY", "REQUEST_COUNT_PER_TARGET"], var.ecs_scaling_metric)
    error_message = "ecs_scaling_metric must be AVERAGE_CPU, AVERAGE_MEMORY or REQUEST_COUNT_PER_TARGET."
  }
}

variable "ecs_scaling_target_value" {
  type        = number
  description = "Target of the scaling metric: a percentage for AVERAGE_CPU/AVERAGE_MEMORY (1-100), requests per task per minute for REQUEST_COUNT_PER_TARGET."
  default     = 60

  validation {
    condition     = var.ecs_scaling_target_value >= 1 && floor(var.ecs_scaling_target_value) == var.ecs_scaling_target_value
    error_message = "ecs_scaling_target_value must be a whole number of at least 1."
  }
}

variable "ecs_min_tasks" {
  type        = number
  description = "Fewest tasks the Express service runs."
  default     = 1

  validation {
    condition     = var.ecs_min_tasks >= 1 && var.ecs_min_tasks <= 100 && floor(var.ecs_min_tasks) == var.ecs_min_tasks
    error_message = "ecs_min_tasks must be a whole number from 1 to 100."
  }
}

variable "ecs_max_tasks" {
  type        = number
  description = "Most tasks the Express service scales out to."
  default     = 5

  validation {
    condition     = var.ecs_max_tasks >= 1 && var.ecs_max_tasks <= 100 && floor(var.ecs_max_tasks) == var.ecs_max_tasks
    error_message = "ecs_max_tasks must be a whole number from 1 to 100 (a bound for a study; raise it here if a run needs more)."
  }
}

variable "ecs_log_retention_days" {
  type        = number
  description = "Days CloudWatch keeps the service's logs."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.ecs_log_retention_days)
    error_message = "ecs_log_retention_days must be a CloudWatch retention: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "ecs_subnet_ids" {
  type        = list(string)
  description = "Subnets for the Express service tasks and load balancer. Empty uses the default VPC's subnets."
  default     = []

  validation {
    condition     = length(var.ecs_subnet_ids) == 0 || (length(var.ecs_subnet_ids) >= 2 && alltrue([for s in var.ecs_subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))]))
    error_message = "ecs_subnet_ids must be empty (default VPC) or list at least two subnet IDs (subnet-...)."
  }
}

variable "ecs_security_group_ids" {
  type        = list(string)
  description = "Security groups for the Express service tasks when ecs_subnet_ids is set. Empty uses the VPC's default group."
  default     = []

  validation {
    condition     = alltrue([for s in var.ecs_security_group_ids : can(regex("^sg-[0-9a-f]+$", s))])
    error_message = "ecs_security_group_ids entries must be security group IDs (sg-...)."
  }
}

# ---------------------------------------------------------------------------------------------
# CloudFront (the CDN study)
# ---------------------------------------------------------------------------------------------

variable "cdn_enabled" {
  type        = bool
  description = "Put a CloudFront distribution in front of the service (the home region's when there are several): cache key = path + query string, TTLs from the origin's Cache-Control. Its URL is the cdn_url output."
  default     = false
}

variable "cdn_forward_echo_headers" {
  type        = bool
  description = "Also forward the X-Echo-* knob headers to the origin, and key the cache on them (a header that changes the answer must be in the key). Splits the cache per header value; knobs in the query string need none of this."
  default     = false
}

variable "cdn_echo_headers" {
  type        = list(string)
  description = "The knob headers cdn_forward_echo_headers forwards (CloudFront policies take names, not wildcards)."
  default     = ["X-Echo-Delay", "X-Echo-Cpu", "X-Echo-Status", "X-Echo-Size", "X-Echo-Seed", "X-Echo-Cache", "X-Echo-Hop"]

  validation {
    condition     = length(var.cdn_echo_headers) <= 10 && alltrue([for h in var.cdn_echo_headers : can(regex("^X-Echo-[A-Za-z0-9-]+$", h))])
    error_message = "cdn_echo_headers takes at most 10 header names (CloudFront's limit per policy), each X-Echo-<Name>."
  }
}

variable "cdn_max_ttl" {
  type        = number
  description = "Longest time in seconds CloudFront keeps an answer, whatever max-age the origin sends."
  default     = 86400

  validation {
    condition     = var.cdn_max_ttl >= 0 && var.cdn_max_ttl <= 31536000 && floor(var.cdn_max_ttl) == var.cdn_max_ttl
    error_message = "cdn_max_ttl must be a whole number of seconds from 0 to 31536000 (a year)."
  }
}

variable "cdn_origin_read_timeout" {
  type        = number
  description = "Seconds CloudFront waits for the origin's answer (1-60; up to 180 after an AWS quota increase). Requests with a longer delay knob get 504 from CloudFront."
  default     = 60

  validation {
    condition     = var.cdn_origin_read_timeout >= 1 && var.cdn_origin_read_timeout <= 180 && floor(var.cdn_origin_read_timeout) == var.cdn_origin_read_timeout
    error_message = "cdn_origin_read_timeout must be a whole number of seconds from 1 to 180."
  }
}

variable "cdn_price_class" {
  type        = string
  description = "Which edge locations serve the distribution: PriceClass_100 (North America, Europe), PriceClass_200 (adds Asia, Middle East, Africa) or PriceClass_All."
  default     = "PriceClass_100"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.cdn_price_class)
    error_message = "cdn_price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

# ---------------------------------------------------------------------------------------------
# Dashboard
# ---------------------------------------------------------------------------------------------

variable "dashboard_alb_target_group" {
  type        = string
  description = "ECS Express only: the ALB TargetGroup dimension (targetgroup/NAME/ID) of the service, to narrow the dashboard's request and latency graphs. Express Mode creates the load balancer itself, so it is only known after the first apply; empty shows every target group in the region."
  default     = ""

  validation {
    condition     = var.dashboard_alb_target_group == "" || can(regex("^targetgroup/[A-Za-z0-9-]+/[0-9a-f]+$", var.dashboard_alb_target_group))
    error_message = "dashboard_alb_target_group must be empty or the CloudWatch dimension form targetgroup/NAME/ID."
  }
}

# ---------------------------------------------------------------------------------------------
# Records: the servers' access-log records in S3, queried with Athena
# ---------------------------------------------------------------------------------------------

variable "records_enabled" {
  type        = bool
  description = "Collect every service's records (delay-echo --access-log, switched on by this) into S3 as Parquet, per service region: a CloudWatch Logs subscription filter, a Firehose stream and a bucket, with one Glue table and an Athena workgroup holding the loadtests/queries SQL as named queries in aws_region."
  default     = false
}

variable "records_retention_days" {
  type        = number
  description = "Days the record buckets keep objects (records, delivery errors, Athena results) before they expire; also how far back the Glue table's date partitions reach."
  default     = 30

  validation {
    condition     = var.records_retention_days >= 1 && var.records_retention_days <= 3650 && floor(var.records_retention_days) == var.records_retention_days
    error_message = "records_retention_days must be a whole number of days from 1 to 3650."
  }
}

variable "records_buffer_seconds" {
  type        = number
  description = "Longest time Firehose buffers records before writing a Parquet object (60-900 s): how long after a run its records can be queried."
  default     = 60

  validation {
    condition     = var.records_buffer_seconds >= 60 && var.records_buffer_seconds <= 900 && floor(var.records_buffer_seconds) == var.records_buffer_seconds
    error_message = "records_buffer_seconds must be a whole number of seconds from 60 to 900."
  }
}
