environment        = "staging"
account_id         = "111111111111"
region             = "eu-west-1"
github_repository  = "acme/monorepo"
subnet_ids         = ["subnet-0staging0a", "subnet-0staging0b"]
security_group_ids = ["sg-0staging"]
