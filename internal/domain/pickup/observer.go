package pickup

// Observer receives counts for metrics; the composition root binds them to
// Prometheus. Nil fields are skipped.
type Observer struct {
	Added     func(n int)               // messages committed by addMessage
	Refused   func(reason string)       // addMessage refusals: "too_large", "quota"
	Batch     func(n int)               // messages per AddMessages transaction
	Delivered func(n int)               // messages handed to a live session's holder
	Expired   func(n int)               // messages deleted by the TTL
	Push      func(typ, outcome string) // notification outcomes
}

func (o Observer) added(n int) {
	if o.Added != nil && n > 0 {
		o.Added(n)
	}
}

func (o Observer) refused(reason string) {
	if o.Refused != nil {
		o.Refused(reason)
	}
}

func (o Observer) batch(n int) {
	if o.Batch != nil {
		o.Batch(n)
	}
}

func (o Observer) delivered(n int) {
	if o.Delivered != nil && n > 0 {
		o.Delivered(n)
	}
}

func (o Observer) expired(n int) {
	if o.Expired != nil && n > 0 {
		o.Expired(n)
	}
}

func (o Observer) push(typ, outcome string) {
	if o.Push != nil {
		o.Push(typ, outcome)
	}
}
