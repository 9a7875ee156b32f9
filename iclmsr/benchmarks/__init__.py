"""The benchmarks: one module per benchmark (`confounded`, ...), each generating its data and handing it to the generic loaders of `iclmsr.data`."""
