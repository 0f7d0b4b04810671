//! One virtual router's RFC 9568 / RFC 3768 logic as a sans-IO state machine: time comes in, actions and deadlines go out.
