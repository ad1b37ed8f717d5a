# The AWS side of what `cargo xtask deploy` deploys, one state per environment:
#
#   terraform init -backend-config="bucket=<your terraform state bucket>" \
#                  -backend-config="key=acme/staging.tfstate"
#   terraform apply -var-file=environments/staging.tfvars
#
# Names come from names.tf and must equal deploy.toml's (`cargo xtask check` compares them).
# The tool owns task definitions after the first apply, and each service's deployment
# configuration: services ignore changes to them.

terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.x: aws_ecs_service's deployment_configuration (strategy, bakes, lifecycle hooks)
      # and load_balancer.advanced_configuration, for ECS's own blue/green, canary and
      # linear deployments.
      version = "~> 6.20"
    }
  }
  backend "s3" {}
}

provider "aws" {
  region              = var.region
  allowed_account_ids = [var.account_id]
}
