// Package spec turns pod manifests into API objects the agent can run:
// Decode parses YAML or JSON strictly (unknown fields are errors naming their
// path), SetDefaults fills in what the API server would have stored, and
// Validate / ValidateUpdate reject what the API server would reject, each
// problem reported with its field path. NormalizeImage expands image
// references to the fully qualified form containerd needs.
package spec
