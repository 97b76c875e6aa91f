package auth

// open marks methods anyone may call: health checks, which load balancers
// and orchestrators make without credentials.
const open Role = -1

// methods is the one table of who may call what, by gRPC full method name.
// A method missing here is refused to everyone (TestEveryRPCHasARole fails
// when a proto gains one); reflection needs a token because it lists the API.
var methods = map[string]Role{
	"/grpc.health.v1.Health/Check": open,
	"/grpc.health.v1.Health/Watch": open,
	"/grpc.health.v1.Health/List":  open,

	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      Reader,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": Reader,

	"/hindsight.membership.v1.MembershipService/ListMembers": Reader,
	"/hindsight.membership.v1.MembershipService/Watch":       Reader,
	"/hindsight.membership.v1.MembershipService/Register":    Operator,
	"/hindsight.membership.v1.MembershipService/KeepAlive":   Operator,
	"/hindsight.membership.v1.MembershipService/Deregister":  Operator,

	"/hindsight.replay.v1.ReplayService/GetReplay":      Reader,
	"/hindsight.replay.v1.ReplayService/ListReplays":    Reader,
	"/hindsight.replay.v1.ReplayService/Search":         Reader,
	"/hindsight.replay.v1.ReplayService/ExportSearch":   Reader,
	"/hindsight.replay.v1.ReplayService/EstimateReplay": Reader,
	"/hindsight.replay.v1.ReplayService/CreateReplay":   Operator,
	"/hindsight.replay.v1.ReplayService/DeleteReplay":   Operator, // and only its creator or an admin

	"/hindsight.routing.v1.RoutingService/ListDatasets":  Reader,
	"/hindsight.routing.v1.RoutingService/GetDataset":    Reader,
	"/hindsight.routing.v1.RoutingService/ListRoutes":    Reader,
	"/hindsight.routing.v1.RoutingService/GetRoute":      Reader,
	"/hindsight.routing.v1.RoutingService/Ingest":        Operator,
	"/hindsight.routing.v1.RoutingService/IngestBatch":   Operator,
	"/hindsight.routing.v1.RoutingService/CreateDataset": Admin,
	"/hindsight.routing.v1.RoutingService/UpdateDataset": Admin,
	"/hindsight.routing.v1.RoutingService/DeleteDataset": Admin,
	"/hindsight.routing.v1.RoutingService/CreateRoute":   Admin,
	"/hindsight.routing.v1.RoutingService/UpdateRoute":   Admin,
	"/hindsight.routing.v1.RoutingService/DeleteRoute":   Admin,

	"/hindsight.topology.v1.TopologyService/GetGraph":    Reader,
	"/hindsight.topology.v1.TopologyService/GetVizceral": Reader,
	"/hindsight.topology.v1.TopologyService/WatchGraph":  Reader,
	"/hindsight.topology.v1.TopologyService/ListVolume":  Reader,
	"/hindsight.topology.v1.TopologyService/ReportFlows": Operator,
}

// Required is the role a method needs, and whether the table lists it.
func Required(fullMethod string) (r Role, listed bool) {
	r, listed = methods[fullMethod]
	return r, listed
}
