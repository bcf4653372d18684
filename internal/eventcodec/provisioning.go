package eventcodec

import (
	"google.golang.org/protobuf/proto"

	"github.com/liveplane/liveplane/internal/domain/provisioning"
	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
)

func encodeProvisioningPayload(data any) (proto.Message, bool) {
	switch d := data.(type) {
	case provisioning.Heartbeat:
		return &lpv1.ClusterHeartbeat{Cluster: d.Cluster, DaemonVersion: d.DaemonVersion}, true
	case provisioning.Status:
		return &lpv1.AccountClusterStatusReported{Status: StatusToProto(d)}, true
	}
	return nil, false
}

func decodeProvisioningPayload(typ string, b []byte) (any, error) {
	if typ == provisioning.EventStatus {
		var m lpv1.AccountClusterStatusReported
		err := proto.Unmarshal(b, &m)
		return StatusFromProto(m.GetStatus()), err
	}
	var m lpv1.ClusterHeartbeat
	err := proto.Unmarshal(b, &m)
	return provisioning.Heartbeat{Cluster: m.GetCluster(), DaemonVersion: m.GetDaemonVersion()}, err
}

// StatusToProto is shared with the RPC driver.
func StatusToProto(s provisioning.Status) *lpv1.AccountClusterStatus {
	p := &lpv1.AccountClusterStatus{
		Cluster: s.Cluster, AccountId: s.AccountID, Namespace: s.Namespace,
		ObservedGeneration: s.ObservedGeneration, Deleted: s.Deleted, ReportTime: ts(s.Time),
	}
	for _, c := range s.Conditions {
		st := "False"
		if c.Status {
			st = "True"
		}
		p.Conditions = append(p.Conditions, &lpv1.ClusterCondition{
			Type: c.Type, Status: st, Reason: c.Reason, Message: c.Message, ObservedGeneration: c.ObservedGeneration,
		})
	}
	return p
}

func StatusFromProto(p *lpv1.AccountClusterStatus) provisioning.Status {
	s := provisioning.Status{
		Cluster: p.GetCluster(), AccountID: p.GetAccountId(), Namespace: p.GetNamespace(),
		ObservedGeneration: p.GetObservedGeneration(), Deleted: p.GetDeleted(), Time: fromTS(p.GetReportTime()),
	}
	for _, c := range p.GetConditions() {
		s.Conditions = append(s.Conditions, provisioning.Condition{
			Type: c.GetType(), Status: c.GetStatus() == "True", Reason: c.GetReason(), Message: c.GetMessage(),
			ObservedGeneration: c.GetObservedGeneration(),
		})
	}
	return s
}
