environment        = "staging"
account_id         = "111111111111"
region             = "eu-west-1"
github_repository  = "acme/monorepo"
subnet_ids         = ["subnet-0staging0a", "subnet-0staging0b"]
security_group_ids = ["sg-0staging"]
# deploy.toml: staging builds, over the shared compile cache (build_cache.tf).
build_cache = true
# deploy.toml: production promotes from staging.
promoted_by_account_ids = ["222222222222"]
# Services deploy.toml deploys blue/green, canary or linear get a load balancer
# (load_balancer.tf): set these when one does.
# vpc_id              = "vpc-0staging"
# public_subnet_ids   = ["subnet-0stagingpub0a", "subnet-0stagingpub0b"]
# service_domain      = "staging.example.com"
# test_listener_cidrs = ["10.0.0.0/16"]
