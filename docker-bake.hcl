// Builds both images: `docker buildx bake` (default group) or
// `docker buildx bake node`. VERSION tracks the crate version: the operator
// runs `tinyredis:<crate version>` when a cluster names no image, so the
// node image's default tag must match it (scripts/check-manifests.sh checks).
//   REGISTRY=ghcr.io/me/ VERSION=0.1.0 docker buildx bake --push

variable "VERSION" {
  default = "0.1.0"
}

variable "REGISTRY" {
  // Prefix with a trailing slash, e.g. "ghcr.io/me/"; empty for local images.
  default = ""
}

variable "REVISION" {
  default = "unknown"
}

group "default" {
  targets = ["node", "operator"]
}

target "_common" {
  context    = "."
  dockerfile = "Dockerfile"
  platforms  = ["linux/amd64"]
  args = {
    VERSION  = "${VERSION}"
    REVISION = "${REVISION}"
  }
}

target "node" {
  inherits = ["_common"]
  target   = "node"
  tags     = ["${REGISTRY}tinyredis:${VERSION}"]
}

target "operator" {
  inherits = ["_common"]
  target   = "operator"
  tags     = ["${REGISTRY}tinyredis-operator:${VERSION}"]
}
