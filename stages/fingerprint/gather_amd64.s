//go:build amd64

#include "textflag.h"

// func gather8(v, table []float32, ix []int32)
TEXT ·gather8(SB), NOSPLIT, $0-72
	MOVQ v_base+0(FP), DI
	MOVQ table_base+24(FP), SI
	MOVQ ix_base+48(FP), DX
	MOVQ ix_len+56(FP), CX
	XORQ AX, AX

gatherloop:
	CMPQ AX, CX
	JGE  gatherdone
	VMOVDQU    (DX)(AX*4), Y1
	VPCMPEQD   Y2, Y2, Y2             // gather every lane
	VPGATHERDD Y2, (SI)(Y1*4), Y0
	VMOVDQU    Y0, (DI)(AX*4)
	ADDQ       $8, AX
	JMP        gatherloop

gatherdone:
	VZEROUPPER
	RET

// COUNT increments counts[ix[AX+k]].
#define COUNT(k) \
	MOVLQSX (k*4)(DX)(AX*4), R9; \
	INCL    (R8)(R9*4)

// func gatherCount8(v, table []float32, counts, ix []int32)
TEXT ·gatherCount8(SB), NOSPLIT, $0-96
	MOVQ v_base+0(FP), DI
	MOVQ table_base+24(FP), SI
	MOVQ counts_base+48(FP), R8
	MOVQ ix_base+72(FP), DX
	MOVQ ix_len+80(FP), CX
	XORQ AX, AX

countloop:
	CMPQ AX, CX
	JGE  countdone
	VMOVDQU    (DX)(AX*4), Y1
	VPCMPEQD   Y2, Y2, Y2
	VPGATHERDD Y2, (SI)(Y1*4), Y0
	VMOVDQU    Y0, (DI)(AX*4)
	COUNT(0)
	COUNT(1)
	COUNT(2)
	COUNT(3)
	COUNT(4)
	COUNT(5)
	COUNT(6)
	COUNT(7)
	ADDQ       $8, AX
	JMP        countloop

countdone:
	VZEROUPPER
	RET
