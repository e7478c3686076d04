// Package akamai is a client for Akamai's Fast Purge API (CCU v3).
//
// It validates purge objects (URLs, cache tags and CP codes), packs any
// number of them into requests whose encoded body stays within Akamai's
// 50,000-byte limit, signs each request with EdgeGrid (see the edgegrid
// sub-package) and decodes Akamai's answers into typed results and errors.
//
// The fake Fast Purge server in akamai/akamaitest behaves as this package
// expects Akamai to behave, so both can be tested against each other.
package akamai
