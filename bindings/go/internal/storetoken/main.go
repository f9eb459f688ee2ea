// Command storetoken prints an access token from a token source on the
// store in the directory given, for bindings/test.sh's test of one store
// shared by C, Go, Ruby and criteo-token. It reads CRITEO_CLIENT_ID,
// CRITEO_CLIENT_SECRET and CRITEO_HOST as criteo-token does, and fails
// when the store did not work.
//
// Usage: storetoken <store directory>
package main

import (
	"fmt"
	"os"

	criteo "criteo-oauth/bindings/go"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: storetoken <store directory>")
		os.Exit(2)
	}
	client, err := criteo.NewClient(criteo.WithHost(os.Getenv("CRITEO_HOST")), criteo.WithProxy(""))
	if err != nil {
		fail(err)
	}
	defer client.Close()
	source, err := criteo.NewTokenSource(client, criteo.TokenRequest{GrantType: "client_credentials",
		ClientID: os.Getenv("CRITEO_CLIENT_ID"), ClientSecret: os.Getenv("CRITEO_CLIENT_SECRET")},
		criteo.WithStore(os.Args[1]))
	if err != nil {
		fail(err)
	}
	defer source.Close()
	token, err := source.Token()
	if err != nil {
		fail(err)
	}
	if err := source.StoreError(); err != nil {
		fail(err)
	}
	fmt.Println(token.AccessToken)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "storetoken:", err)
	os.Exit(1)
}
