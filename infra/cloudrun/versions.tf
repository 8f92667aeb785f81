# Cloud Run root module, separate from infra/ so AWS users never need the Google provider (and
# Google users never the AWS one). Checked offline against google 8.7.0 (PyPI
# cdktn-provider-google 21.1.0, `make infra-schema`); "~> 8.0" keeps it on that major version.

terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 8.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
