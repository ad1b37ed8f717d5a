# The load balancer of the services deploy.toml deploys blue/green, canary or linear
# (`local.shifting`). ECS moves each one's production traffic between two target groups
# by the weights of its production listener rule; the new revision gets the test listener
# first, where `cargo xtask deploy` checks it while ECS waits at the tool's PAUSE hook.
# Rolling services need none of it, and with none shifting nothing here is created.
# (The developer guide: "Application Load Balancer resources for blue/green deployments".)

resource "aws_security_group" "alb" {
  count       = length(local.shifting) > 0 ? 1 : 0
  name        = "${local.cluster_name}-alb"
  description = "Production listener from anywhere; the test listener only from the deploying runners."
  vpc_id      = var.vpc_id

  ingress {
    description = "production"
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  ingress {
    description = "test listener: new revisions before production traffic moves"
    from_port   = 8080
    to_port     = 8080
    protocol    = "tcp"
    cidr_blocks = var.test_listener_cidrs
  }
  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_lb" "main" {
  count              = length(local.shifting) > 0 ? 1 : 0
  name               = substr(local.cluster_name, 0, 32)
  load_balancer_type = "application"
  subnets            = var.public_subnet_ids
  security_groups    = [aws_security_group.alb[0].id]
}

# Blue and green, per service: ECS registers the running revision's tasks in one and the
# new one's in the other, and swaps their roles after each deployment.
resource "aws_lb_target_group" "service" {
  for_each = {
    for pair in setproduct(keys(local.shifting), ["blue", "green"]) :
    "${pair[0]}/${pair[1]}" => { service = pair[0], color = pair[1] }
  }
  # At most 32 characters, the colour's initial kept: blue and green never collide.
  name        = "${substr("${local.cluster_name}-${each.value.service}", 0, 30)}-${substr(each.value.color, 0, 1)}"
  port        = local.shifting[each.value.service].port
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = var.vpc_id
  health_check {
    path    = local.shifting[each.value.service].health_path
    matcher = "200"
  }
}

# Production traffic, and the test listener where a new revision answers first (only from
# test_listener_cidrs: the security group above).
resource "aws_lb_listener" "service" {
  for_each          = length(local.shifting) > 0 ? { production = 80, test = 8080 } : {}
  load_balancer_arn = aws_lb.main[0].arn
  port              = each.value
  protocol          = "HTTP"
  default_action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = "no such service"
      status_code  = "404"
    }
  }
}

# One rule per service and listener, by host name; ECS sets the weights during each
# deployment, so Terraform leaves the action to it after creating it.
resource "aws_lb_listener_rule" "service" {
  for_each = {
    for pair in setproduct(keys(local.shifting), ["production", "test"]) :
    "${pair[0]}/${pair[1]}" => { service = pair[0], listener = pair[1] }
  }
  listener_arn = aws_lb_listener.service[each.value.listener].arn
  priority     = 100 + index(keys(local.shifting), each.value.service)
  condition {
    host_header {
      values = ["${each.value.service}.${var.service_domain}"]
    }
  }
  action {
    type = "forward"
    forward {
      target_group {
        arn    = aws_lb_target_group.service["${each.value.service}/blue"].arn
        weight = 100
      }
      target_group {
        arn    = aws_lb_target_group.service["${each.value.service}/green"].arn
        weight = 0
      }
    }
  }
  lifecycle {
    ignore_changes = [action]
  }
}

# ECS's infrastructure role: what lets ECS move the listener rules' weights and register
# tasks in the target groups during a deployment.
data "aws_iam_policy_document" "ecs_infrastructure_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "ecs_infrastructure" {
  count              = length(local.shifting) > 0 ? 1 : 0
  name               = "${local.cluster_name}-ecs-infrastructure"
  assume_role_policy = data.aws_iam_policy_document.ecs_infrastructure_trust.json
}

resource "aws_iam_role_policy_attachment" "ecs_infrastructure" {
  count      = length(local.shifting) > 0 ? 1 : 0
  role       = aws_iam_role.ecs_infrastructure[0].name
  policy_arn = "arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"
}
