package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// putNode replaces the node's labels and taints (PUT /api/v1/nodes/{name}).
func (s *Server) putNode(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		WriteError(w, apierrors.NewBadRequest(fmt.Sprintf("read body: %v", err)))
		return
	}
	var node v1.Node
	if err := json.Unmarshal(data, &node); err != nil {
		WriteError(w, apierrors.NewBadRequest(fmt.Sprintf("Node in version \"v1\" cannot be handled as a Node: %v", err)))
		return
	}
	if name := r.PathValue("name"); node.Name != "" && node.Name != name {
		WriteError(w, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", node.Name, name)))
		return
	}
	node.Name = r.PathValue("name")
	out, err := s.b.UpdateNode(r.Context(), &node)
	if err != nil {
		WriteError(w, err)
		return
	}
	out.Kind, out.APIVersion = "Node", "v1"
	WriteJSON(w, http.StatusOK, out)
}

// UpdateNode replaces the node's labels and taints.
func (c *Client) UpdateNode(ctx context.Context, node *v1.Node) (*v1.Node, error) {
	var out v1.Node
	if _, err := c.getJSON(ctx, http.MethodPut, "/api/v1/nodes/"+url.PathEscape(node.Name), nil, node, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
