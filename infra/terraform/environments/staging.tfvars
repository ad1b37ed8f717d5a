environment        = "staging"
account_id         = "111111111111"
region             = "eu-west-1"
github_repository  = "acme/monorepo"
subnet_ids         = ["subnet-0staging0a", "subnet-0staging0b"]
security_group_ids = ["sg-0staging"]
# deploy.toml: production promotes from staging.
promoted_by_account_ids = ["222222222222"]
