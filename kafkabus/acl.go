package kafkabus

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Role is a kind of Kafka user of chatbus, with the rights it needs.
type Role string

const (
	// RoleBackend serves requests: reads the request topics in its group,
	// writes replies, events and dead letters.
	RoleBackend Role = "backend"
	// RoleFrontend is a web gateway: writes requests, reads replies and
	// events, reads and writes sessions.
	RoleFrontend Role = "frontend"
	// RoleClient is a raw Kafka client (kcat), driving the backend as the
	// seed did: writes requests, reads replies.
	RoleClient Role = "client"
)

// Roles lists the roles in the order the docs show them.
var Roles = []Role{RoleBackend, RoleFrontend, RoleClient}

// ACL is one right a role is allowed: an operation on a topic, a group or
// the cluster, by literal name.
type ACL struct {
	Resource  kmsg.ACLResourceType
	Name      string
	Operation kmsg.ACLOperation
}

// ACLs returns exactly the rights role needs on these topics, with the
// backends' consumer group. What a role is not given is what it cannot
// do: no frontend or client may write a reply or an event topic, and none
// but the frontends may touch sessions. Read and Write imply Describe.
func (t Topics) ACLs(role Role, group string) []ACL {
	if group == "" {
		group = "chatbus-backend"
	}
	var requests, responses []string
	for _, op := range Operations {
		requests, responses = append(requests, t.Request(op)), append(responses, t.Response(op))
	}
	events := []string{t.UserEvents(), t.RoomEvents()}
	var all []string
	for _, s := range t.Specs() {
		all = append(all, s.Name)
	}
	var out []ACL
	on := func(op kmsg.ACLOperation, topics ...string) {
		for _, name := range topics {
			out = append(out, ACL{kmsg.ACLResourceTypeTopic, name, op})
		}
	}
	switch role {
	case RoleBackend:
		on(kmsg.ACLOperationRead, requests...)
		on(kmsg.ACLOperationWrite, slices.Concat(responses, events, []string{t.DeadLetter(), t.SecretDeadLetter()})...)
		// It creates every topic at start, sessions too, and looks at all
		// (readiness) — which shows names and offsets, not records.
		on(kmsg.ACLOperationCreate, all...)
		on(kmsg.ACLOperationDescribe, all...)
		out = append(out, ACL{kmsg.ACLResourceTypeGroup, group, kmsg.ACLOperationRead})
	case RoleFrontend:
		on(kmsg.ACLOperationWrite, requests...)
		on(kmsg.ACLOperationRead, slices.Concat(responses, events, []string{t.Sessions()})...)
		on(kmsg.ACLOperationWrite, t.Sessions())
		on(kmsg.ACLOperationCreate, t.Sessions())
		on(kmsg.ACLOperationDescribe, all...)
	case RoleClient:
		on(kmsg.ACLOperationWrite, requests...)
		on(kmsg.ACLOperationRead, responses...)
	}
	return out
}
