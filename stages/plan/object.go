package plan

import "github.com/nnrunner/nnrunner/stages/pyjson"

// newOrderedObject builds an object from key, value pairs in order.
func newOrderedObject(kv ...any) *pyjson.Object {
	o := pyjson.NewObject()
	for i := 0; i+1 < len(kv); i += 2 {
		o.Set(kv[i].(string), kv[i+1])
	}
	return o
}
