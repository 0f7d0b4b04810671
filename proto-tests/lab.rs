//! The namespace lab: network namespaces, a bridge switch, veth links and the processes run inside them.
