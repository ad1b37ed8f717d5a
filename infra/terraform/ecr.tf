# One repository per service. Tags never move (fp-<fingerprint>, git-<commit>): the tool
# adds a tag to an existing image, it never re-points one.

resource "aws_ecr_repository" "service" {
  for_each             = local.ecr_repositories
  name                 = each.value
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }
}

# Enhanced scanning (Amazon Inspector): programming-language packages too, Rust crates
# included, with the versions that fix them; basic scanning covers OS packages only, and a
# FROM scratch image comes back UNSUPPORTED_IMAGE. Continuous: a CVE published after the
# push is found before the next deploy rolls the image (deploy.toml's `scan` gate reads
# the findings). One configuration per registry (account and region).
resource "aws_ecr_registry_scanning_configuration" "enhanced" {
  scan_type = "ENHANCED"
  rule {
    scan_frequency = "CONTINUOUS_SCAN"
    repository_filter {
      filter      = "${local.project}/*"
      filter_type = "WILDCARD"
    }
  }
}

# Untagged images (failed pushes) go after a day; tagged ones only beyond `keep_images`
# per repository, far more than the 20 deploys a rollback must reach.
resource "aws_ecr_lifecycle_policy" "service" {
  for_each   = aws_ecr_repository.service
  repository = each.value.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "failed pushes"
        selection    = { tagStatus = "untagged", countType = "sinceImagePushed", countUnit = "days", countNumber = 1 }
        action       = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "keep the images of the last ${var.keep_images} deploys"
        selection    = { tagStatus = "tagged", tagPrefixList = ["git-", "fp-"], countType = "imageCountMoreThan", countNumber = var.keep_images }
        action       = { type = "expire" }
      },
    ]
  })
}
