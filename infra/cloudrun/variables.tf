# Inputs of the Cloud Run stack. Typed, described and validated where Cloud Run documents a range,
# so a bad value fails at plan with the allowed values in the message.

variable "project_id" {
  type        = string
  description = "Google Cloud project that holds the repository and the service."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID: 6-30 lower-case letters, digits or '-', starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "Region of the Artifact Registry repository and the Cloud Run service, e.g. europe-west1."
  default     = "europe-west1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1 or us-central1."
  }
}

variable "name" {
  type        = string
  description = "Name of the service, the Artifact Registry repository and the service account."
  default     = "delay-echo"

  validation {
    # Service account IDs allow 6-30 characters; service names and repository IDs allow more.
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.name))
    error_message = "name must be 6-30 characters: a lower-case letter, then lower-case letters, digits or '-', not ending in '-'."
  }
}

variable "create_service" {
  type        = bool
  description = "Create the service. Apply with false first (repository, service account), push the image, then apply with true: the service never points at an empty repository."
  default     = true
}

variable "image_tag" {
  type        = string
  description = "Tag of the image in the Artifact Registry repository that the service runs."
  default     = "latest"

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a Docker tag: 1-128 characters of letters, digits, '_', '.' or '-', not starting with '.' or '-'."
  }
}

variable "max_concurrency" {
  type        = number
  description = "Most requests one instance serves at once (max_instance_request_concurrency); Cloud Run scales out as instances approach it. Cloud Run allows 1-1000 (default 80)."
  default     = 80

  validation {
    condition     = var.max_concurrency >= 1 && var.max_concurrency <= 1000 && floor(var.max_concurrency) == var.max_concurrency
    error_message = "max_concurrency must be a whole number from 1 to 1000."
  }
}

variable "min_instances" {
  type        = number
  description = "Instances kept warm (0 allows scale to zero and cold starts)."
  default     = 0

  validation {
    condition     = var.min_instances >= 0 && var.min_instances <= 100 && floor(var.min_instances) == var.min_instances
    error_message = "min_instances must be a whole number from 0 to 100."
  }
}

variable "max_instances" {
  type        = number
  description = "Most instances Cloud Run scales out to (a bound for a study)."
  default     = 5

  validation {
    condition     = var.max_instances >= 1 && var.max_instances <= 100 && floor(var.max_instances) == var.max_instances
    error_message = "max_instances must be a whole number from 1 to 100 (raise the bound here if a study needs more)."
  }
}

variable "cpu_allocation" {
  type        = string
  description = "\"request\": CPU only while a request is in flight (billed per request; idle instances are throttled). \"always\": CPU for the instance's whole life (billed per instance). See README: it changes what the cpu knob measures."
  default     = "request"

  validation {
    condition     = contains(["request", "always"], var.cpu_allocation)
    error_message = "cpu_allocation must be \"request\" or \"always\"."
  }
}

variable "resources" {
  type = object({
    cpu    = string
    memory = string
  })
  description = "CPU and memory limits of the container, in Cloud Run's units: cpu \"1\", \"2\", \"4\", \"6\" or \"8\"; memory such as \"512Mi\" or \"2Gi\" (at least 512Mi per CPU)."
  default     = { cpu = "1", memory = "512Mi" }

  validation {
    condition     = contains(["1", "2", "4", "6", "8"], var.resources.cpu) && can(regex("^[0-9]+(Mi|Gi)$", var.resources.memory))
    error_message = "resources.cpu must be \"1\", \"2\", \"4\", \"6\" or \"8\" and resources.memory a quantity such as \"512Mi\" or \"2Gi\"."
  }
}

variable "request_timeout_seconds" {
  type        = number
  description = "Seconds Cloud Run lets a request run before answering 504 (1-3600); keep it above the longest delay a study asks for."
  default     = 300

  validation {
    condition     = var.request_timeout_seconds >= 1 && var.request_timeout_seconds <= 3600 && floor(var.request_timeout_seconds) == var.request_timeout_seconds
    error_message = "request_timeout_seconds must be a whole number from 1 to 3600."
  }
}

variable "allow_unauthenticated" {
  type        = bool
  description = "Let anyone invoke the service (roles/run.invoker for allUsers), as the load generators expect. False requires an identity token on every request."
  default     = true
}

variable "service_environment" {
  type        = map(string)
  description = "Environment of the service: DELAY_ECHO_* settings (and RUST_LOG). Cloud Run sets PORT (8080 here) itself and reserves it; DELAY_ECHO_LISTEN is refused because the probes use port 8080."
  default = {
    DELAY_ECHO_LOG_FORMAT = "json"
  }

  validation {
    condition     = alltrue([for k in keys(var.service_environment) : can(regex("^(DELAY_ECHO_[A-Z0-9_]+|RUST_LOG)$", k)) && k != "DELAY_ECHO_LISTEN"])
    error_message = "service_environment keys must be DELAY_ECHO_<FLAG> (except DELAY_ECHO_LISTEN: the port is fixed at 8080) or RUST_LOG."
  }
}
