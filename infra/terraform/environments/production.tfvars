environment        = "production"
account_id         = "222222222222"
region             = "eu-west-1"
github_repository  = "acme/monorepo"
subnet_ids         = ["subnet-0prod0a", "subnet-0prod0b"]
security_group_ids = ["sg-0prod"]
keep_images        = 200
# deploy.toml: production promotes from staging.
promote_from_environment = "staging"
promote_from_account_id  = "111111111111"
# Services deploy.toml deploys blue/green, canary or linear get a load balancer
# (load_balancer.tf): set these when one does.
# vpc_id              = "vpc-0production"
# public_subnet_ids   = ["subnet-0productionpub0a", "subnet-0productionpub0b"]
# service_domain      = "production.example.com"
# test_listener_cidrs = ["10.0.0.0/16"]
