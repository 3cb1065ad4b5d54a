//! Messages and their byte form: a header, then postcard-encoded frames,
//! in datagrams that fit an MTU.
