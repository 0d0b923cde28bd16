// Package manifest decodes pod manifests: a stream of YAML documents or JSON
// objects, each a v1 Pod or a v1 List (or PodList) of Pods, decoded strictly
// (unknown and duplicate fields are errors naming the field path, the source
// and the document number). Defaults and validation are package spec's.
//
// It is a package of its own so that the miniagent client, which decodes
// the files of `apply -f` and `delete -f`, links only this and not spec's
// validation (regular expressions compiled at start-up, image reference
// parsing): the client starts faster.
package manifest
