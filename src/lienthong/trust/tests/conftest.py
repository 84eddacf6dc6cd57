"""The TEST PKI fixtures live in lienthong.testing.pki, shared by every app's tests."""
