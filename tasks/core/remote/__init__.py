"""Remote targets (staging and production): SSH tunnels through a bastion, and the cluster view."""
