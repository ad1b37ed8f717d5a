# Every name the tool looks up, from the same templates as deploy.toml's defaults.
# `cargo xtask check` evaluates these locals for each AWS environment of deploy.toml and
# reports any name that differs.

locals {
  project = "acme"

  services = {
    api    = { port = 8080, health_path = "/health", migrations = true }
    worker = { port = 8081, health_path = "/health", migrations = false }
  }
  apps = ["admin", "portal"]

  cluster_name = "${local.project}-${var.environment}"
  state_bucket = "${local.project}-${var.environment}-deploy-state"

  ecs_services       = { for name, service in local.services : name => "${local.project}-${var.environment}-${name}" }
  ecr_repositories   = { for name, service in local.services : name => "${local.project}/${name}" }
  migration_families = { for name, service in local.services : name => "${local.project}-${var.environment}-${name}-migrate" if service.migrations }
  app_buckets        = { for name in local.apps : name => "${local.project}-${var.environment}-${name}" }
}
