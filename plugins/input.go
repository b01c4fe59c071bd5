package plugins

import (
	"container/list"
	"encoding/json"
	"sync"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/volant-sh/volant/errdefs"
)

// maxResolvedSchemas bounds the cache of resolved input schemas: enough
// for the actions of every plugin a host runs, and old schemas (of plugins
// reinstalled or removed) fall out instead of piling up for the life of
// the process.
const maxResolvedSchemas = 512

// resolvedSchemas keeps the resolved input schemas of the actions called
// lately, by their JSON, so that an action's schema is compiled once, not
// at every call.
var resolvedSchemas = newSchemaCache(maxResolvedSchemas)

// CheckInput checks an action's input, decoded from JSON into plain Go
// values (map[string]any, float64, ...), against the action's input
// schema. An action without one takes any input.
func (a *Action) CheckInput(input any) error {
	if len(a.Input) == 0 {
		return nil
	}
	rs, err := resolvedSchemas.get(a.Input)
	if err != nil {
		return errdefs.Unavailable("action %s has an unusable input schema: %v", a.Name, err)
	}
	if err := rs.Validate(input); err != nil {
		return errdefs.Invalid("the input of action %s does not match its schema: %v", a.Name, err)
	}
	return nil
}

// schemaCache is a least-recently-used cache of resolved schemas.
type schemaCache struct {
	max int

	mu    sync.Mutex
	order *list.List               // of *schemaItem, most recent first
	items map[string]*list.Element // by the schema's JSON
}

type schemaItem struct {
	key string
	rs  *jsonschema.Resolved
}

func newSchemaCache(max int) *schemaCache {
	return &schemaCache{max: max, order: list.New(), items: map[string]*list.Element{}}
}

// get returns raw resolved, resolving it on a miss. Schemas that do not
// resolve are not kept.
func (c *schemaCache) get(raw json.RawMessage) (*jsonschema.Resolved, error) {
	key := string(raw)
	c.mu.Lock()
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		rs := el.Value.(*schemaItem).rs
		c.mu.Unlock()
		return rs, nil
	}
	c.mu.Unlock()
	s, err := compileSchema(raw)
	if err != nil {
		return nil, err
	}
	rs, err := s.Resolve(nil)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok { // resolved meanwhile by another call
		c.order.MoveToFront(el)
		return el.Value.(*schemaItem).rs, nil
	}
	c.items[key] = c.order.PushFront(&schemaItem{key: key, rs: rs})
	for c.order.Len() > c.max {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.items, old.Value.(*schemaItem).key)
	}
	return rs, nil
}

// len is the number of schemas kept.
func (c *schemaCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
