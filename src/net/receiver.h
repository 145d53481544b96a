/*
 * receiver.h - the receiving end of the channels (net/receiver.c).
 */
#ifndef SSN_RECEIVER_H
#define SSN_RECEIVER_H

/* registers the kinds the receiver handles itself ('test') */
extern void receiver_init(void);

#endif							/* SSN_RECEIVER_H */
