"""AWS: the 'aws' site kind (ECS Fargate behind an ALB, `site.py`) and the 'route53' DNS backend (`route53.py`).

`plugin.py` declares both (spec models, AWS's limits, capabilities) without importing Pulumi or the AWS SDK, so the
spec validates a stack without the `aws` extra; the components load only when a stack plans or deploys them.
"""
