package main

// The dubbo-go extensions this program needs, registered by their packages' init functions. This is
// a small subset of dubbo.apache.org/dubbo-go/v3/imports (which pulls in every registry, config
// centre and tracer).
import (
	// The "tri" protocol (client invoker and server exporter).
	_ "dubbo.apache.org/dubbo-go/v3/protocol/triple"
	// The "default" proxy factory, which wraps stub-registered services (infoProxyInvoker).
	_ "dubbo.apache.org/dubbo-go/v3/proxy/proxy_factory"
	// The client's default cluster (failover) and load balancer (random).
	_ "dubbo.apache.org/dubbo-go/v3/cluster/cluster/failover"
	_ "dubbo.apache.org/dubbo-go/v3/cluster/loadbalance/random"
	// Default reference filter (graceful_shutdown consumer) and default service filters
	// (common/constant DefaultServiceFilters: echo, token, accesslog, tps, generic_service, execute,
	// pshutdown). A missing filter would leave a nil filter in the invoker chain.
	_ "dubbo.apache.org/dubbo-go/v3/filter/accesslog"
	_ "dubbo.apache.org/dubbo-go/v3/filter/echo"
	_ "dubbo.apache.org/dubbo-go/v3/filter/exec_limit"
	_ "dubbo.apache.org/dubbo-go/v3/filter/generic"
	_ "dubbo.apache.org/dubbo-go/v3/filter/graceful_shutdown"
	_ "dubbo.apache.org/dubbo-go/v3/filter/token"
	_ "dubbo.apache.org/dubbo-go/v3/filter/tps"
)
