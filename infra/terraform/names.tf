# Every name the tool looks up, from the same templates as deploy.toml's defaults.
# `cargo xtask check` evaluates these locals for each AWS environment of deploy.toml and
# reports any name that differs.

locals {
  project = "acme"

  # `strategy` is deploy.toml's: blue_green, canary and linear services get the load
  # balancer of load_balancer.tf (`cargo xtask check` compares them).
  services = {
    api    = { port = 8080, health_path = "/health", migrations = true, strategy = "rolling" }
    worker = { port = 8081, health_path = "/health", migrations = false, strategy = "rolling" }
  }
  apps = ["admin", "portal"]

  cluster_name = "${local.project}-${var.environment}"
  state_bucket = "${local.project}-${var.environment}-deploy-state"
  # deploy.toml's build_cache, where the environment builds (build_cache.tf).
  build_cache_bucket = "${local.project}-${var.environment}-build-cache"

  ecs_services       = { for name, service in local.services : name => "${local.project}-${var.environment}-${name}" }
  ecr_repositories   = { for name, service in local.services : name => "${local.project}/${name}" }
  migration_families = { for name, service in local.services : name => "${local.project}-${var.environment}-${name}-migrate" if service.migrations }
  app_buckets        = { for name in local.apps : name => "${local.project}-${var.environment}-${name}" }
  strategies         = { for name, service in local.services : name => service.strategy }
  # The services whose traffic ECS shifts between two target groups.
  shifting = { for name, service in local.services : name => service if service.strategy != "rolling" }
}
