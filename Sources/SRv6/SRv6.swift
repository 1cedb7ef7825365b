/// SRv6: segment routing types, codecs and configuration (see docs/srv6.md).
public enum SRv6 {}
