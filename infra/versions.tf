# Terraform and provider constraints for the delay-echo study stack.
# The AWS provider floor is 6.23 because aws_ecs_express_gateway_service first shipped there;
# "~> 6.23" keeps us on v6 where the App Runner and ECR arguments used here are stable.

terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.23"
    }
  }
}

provider "aws" {
  region = var.aws_region

  # Every resource carries the study's tags so a shared account can tell what to clean up.
  default_tags {
    tags = merge(var.tags, {
      Project   = "delay-echo"
      ManagedBy = "terraform"
      Stack     = var.name
    })
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}
