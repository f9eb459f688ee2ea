module criteo-oauth/bindings/go

go 1.19
