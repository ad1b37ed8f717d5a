variable "environment" {
  description = "The deploy.toml environment this state is for (staging, production)."
  type        = string
}

variable "account_id" {
  description = "The AWS account of the environment (deploy.toml's account_id)."
  type        = string
}

variable "region" {
  description = "The AWS region of the environment (deploy.toml's region)."
  type        = string
}

variable "github_repository" {
  description = "owner/name of the GitHub repository whose workflows may deploy."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets the services' and migration tasks' ENIs go in."
  type        = list(string)
}

variable "vpc_id" {
  description = "The VPC of the services: their load balancer's target groups and security group (blue/green, canary and linear services only)."
  type        = string
  default     = ""
}

variable "public_subnet_ids" {
  description = "Subnets of the load balancer in front of the blue/green, canary and linear services."
  type        = list(string)
  default     = []
}

variable "service_domain" {
  description = "Each shifting service answers at <name>.<service_domain> on the load balancer: deploy.toml's service_url and test_url name the same hosts."
  type        = string
  default     = "example.com"
}

variable "test_listener_cidrs" {
  description = "Who may reach the test listener (port 8080), where a new revision answers before production traffic moves: the CI runners that deploy. Never the internet."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "Security groups of the services' tasks."
  type        = list(string)
}

variable "keep_images" {
  description = "Images kept per repository. Each deploy adds at most one per repository, so the images of the last `keep_images` deploys stay: rollback --sha reaches that far back."
  type        = number
  default     = 100
  validation {
    condition     = var.keep_images >= 20
    error_message = "keep_images must keep at least 20 deploys' images: the ledger's recent records must stay rollback targets."
  }
}

variable "promote_from_account_id" {
  description = "The account of the environment this one promotes from (deploy.toml's promote_from): its repositories and state bucket are read by this environment's deploy and plan roles. Empty: this environment builds."
  type        = string
  default     = ""
}

variable "promoted_by_account_ids" {
  description = "The accounts of the environments that promote from this one: they may read its repositories and state bucket (their own IAM policies say which of their roles)."
  type        = list(string)
  default     = []
}

variable "promote_from_environment" {
  description = "The deploy.toml name of the environment this one promotes from (its state bucket's name has it). Empty: this environment builds."
  type        = string
  default     = ""
}

variable "build_cache" {
  description = "Create the compile cache bucket the build jobs share (deploy.toml's build_cache); environments that promote build nothing."
  type        = bool
  default     = false
}

variable "build_cache_days" {
  description = "Days a compile cache entry is kept after it was written."
  type        = number
  default     = 14
  validation {
    condition     = var.build_cache_days >= 1
    error_message = "build_cache_days must be at least 1."
  }
}
