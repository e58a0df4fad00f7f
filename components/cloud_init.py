"""Cloud-init user data that runs the service image under Docker: shared by the site kinds built on plain servers.

cloud-init's `packages` and `runcmd` modules (https://cloudinit.readthedocs.io/en/latest/topics/examples.html); each
command an argument list, which cloud-init quotes, so the image reference is never parsed by a shell (the pull loop
gets it as `$0`). JSON is valid YAML: the values are written as JSON strings, whatever characters they hold.
"""

from __future__ import annotations

import json


def docker_cloud_config(image: str, port: int) -> str:
    """A `#cloud-config` document that installs Docker and runs `image` with its `port` published, restarted always.

    `runcmd` runs on a server's first boot only ("Run commands on first boot", the examples page above), and Docker's
    `--restart always` applies only to a container that exists, so a pull that fails once (a registry hiccup, Docker
    Hub's "10 [pulls] per IPv4 address" an hour for anonymous clients, https://docs.docker.com/docker-hub/usage/, on an
    address another tenant had) would leave the server without its service until it is replaced: the pull is retried
    until it succeeds. Then `--restart always` brings the container back after a crash or a reboot. Each provider
    checks the result against its own user-data limit."""
    published = f"{port}:{port}"
    pull = ["sh", "-c", 'until docker pull "$0"; do sleep 15; done', image]
    run = ["docker", "run", "--detach", "--name", "service", "--restart", "always", "--publish", published, image]
    return "\n".join(
        [
            "#cloud-config",
            "package_update: true",
            f"packages: {json.dumps(['docker.io'])}",
            "runcmd:",
            f"  - {json.dumps(['systemctl', 'enable', '--now', 'docker'])}",
            f"  - {json.dumps(pull)}",
            f"  - {json.dumps(run)}",
            "",
        ]
    )
