//! VRRP v2/v3 wire codec: decode (nom) and encode (bytes) of adverts, IPv4 header views, checksums, GARP/NA frames. Pure: no sockets, clocks or logging.
