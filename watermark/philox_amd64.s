//go:build amd64 && !purego

#include "textflag.h"

// Batched Philox4x32-10 (see philox_batch.go). A philoxBatch is
// c[4][128]uint32 then k[2][128]uint32: counter word j of lane l is at
// 512*j + 4*l, key word j at 2048 + 512*j + 4*l. Each round multiplies
// c0 by M0 and c2 by M1 into 64-bit products with VPMULUDQ, once for the
// even lanes and once for the odd lanes shifted down, and blends the high
// and low halves back into lane order.

DATA philoxConst<>+0(SB)/4, $0xD2511F53  // M0
DATA philoxConst<>+4(SB)/4, $0xCD9E8D57  // M1
DATA philoxConst<>+8(SB)/4, $0x9E3779B9  // W0
DATA philoxConst<>+12(SB)/4, $0xBB67AE85 // W1
GLOBL philoxConst<>(SB), RODATA|NOPTR, $16

// AVX2 registers: counters a0-a3 in and b0-b3 out, alternating between
// Y0-Y3 and Y4-Y7; keys Y8, Y9; M0 Y10, M1 Y11, W0 Y12, W1 Y13; Y14 temp.
#define ROUND2(a0, a1, a2, a3, b0, b1, b2, b3) \
	VPMULUDQ Y10, a0, b3; \
	VPSRLQ   $32, a0, b1; \
	VPMULUDQ Y10, b1, b1; \
	VPSRLQ   $32, b3, b2; \
	VPBLENDD $0xAA, b1, b2, b2; \
	VPSLLQ   $32, b1, b1; \
	VPBLENDD $0xAA, b1, b3, b3; \
	VPXOR    a3, b2, b2; \
	VPXOR    Y9, b2, b2; \
	VPMULUDQ Y11, a2, b1; \
	VPSRLQ   $32, a2, Y14; \
	VPMULUDQ Y11, Y14, Y14; \
	VPSRLQ   $32, b1, b0; \
	VPBLENDD $0xAA, Y14, b0, b0; \
	VPSLLQ   $32, Y14, Y14; \
	VPBLENDD $0xAA, Y14, b1, b1; \
	VPXOR    a1, b0, b0; \
	VPXOR    Y8, b0, b0

#define BUMP2 \
	VPADDD Y12, Y8, Y8; \
	VPADDD Y13, Y9, Y9

// func philoxAVX2(b *philoxBatch, n int)
TEXT ·philoxAVX2(SB), NOSPLIT, $0-16
	MOVQ b+0(FP), DI
	MOVQ n+8(FP), CX
	ADDQ $7, CX
	SHRQ $3, CX
	JZ   done2
	VPBROADCASTD philoxConst<>+0(SB), Y10
	VPBROADCASTD philoxConst<>+4(SB), Y11
	VPBROADCASTD philoxConst<>+8(SB), Y12
	VPBROADCASTD philoxConst<>+12(SB), Y13

loop2:
	VMOVDQU 0(DI), Y0
	VMOVDQU 512(DI), Y1
	VMOVDQU 1024(DI), Y2
	VMOVDQU 1536(DI), Y3
	VMOVDQU 2048(DI), Y8
	VMOVDQU 2560(DI), Y9
	ROUND2(Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7)
	BUMP2
	ROUND2(Y4, Y5, Y6, Y7, Y0, Y1, Y2, Y3)
	BUMP2
	ROUND2(Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7)
	BUMP2
	ROUND2(Y4, Y5, Y6, Y7, Y0, Y1, Y2, Y3)
	BUMP2
	ROUND2(Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7)
	BUMP2
	ROUND2(Y4, Y5, Y6, Y7, Y0, Y1, Y2, Y3)
	BUMP2
	ROUND2(Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7)
	BUMP2
	ROUND2(Y4, Y5, Y6, Y7, Y0, Y1, Y2, Y3)
	BUMP2
	ROUND2(Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7)
	BUMP2
	ROUND2(Y4, Y5, Y6, Y7, Y0, Y1, Y2, Y3)
	VMOVDQU Y0, 0(DI)
	VMOVDQU Y1, 512(DI)
	VMOVDQU Y2, 1024(DI)
	VMOVDQU Y3, 1536(DI)
	ADDQ    $32, DI
	DECQ    CX
	JNZ     loop2
	VZEROUPPER

done2:
	RET

// AVX-512 registers: as for AVX2 in Z0-Z14, with K1 selecting the odd
// lanes and VPTERNLOGD $0x96 for the three-way XOR.
#define ROUND5(a0, a1, a2, a3, b0, b1, b2, b3) \
	VPMULUDQ   Z10, a0, b3; \
	VPSRLQ     $32, a0, b1; \
	VPMULUDQ   Z10, b1, b1; \
	VPSRLQ     $32, b3, b2; \
	VPBLENDMD  b1, b2, K1, b2; \
	VPSLLQ     $32, b1, b1; \
	VPBLENDMD  b1, b3, K1, b3; \
	VPTERNLOGD $0x96, Z9, a3, b2; \
	VPMULUDQ   Z11, a2, b1; \
	VPSRLQ     $32, a2, Z14; \
	VPMULUDQ   Z11, Z14, Z14; \
	VPSRLQ     $32, b1, b0; \
	VPBLENDMD  Z14, b0, K1, b0; \
	VPSLLQ     $32, Z14, Z14; \
	VPBLENDMD  Z14, b1, K1, b1; \
	VPTERNLOGD $0x96, Z8, a1, b0

#define BUMP5 \
	VPADDD Z12, Z8, Z8; \
	VPADDD Z13, Z9, Z9

// func philoxAVX512(b *philoxBatch, n int)
TEXT ·philoxAVX512(SB), NOSPLIT, $0-16
	MOVQ b+0(FP), DI
	MOVQ n+8(FP), CX
	ADDQ $15, CX
	SHRQ $4, CX
	JZ   done5
	VPBROADCASTD philoxConst<>+0(SB), Z10
	VPBROADCASTD philoxConst<>+4(SB), Z11
	VPBROADCASTD philoxConst<>+8(SB), Z12
	VPBROADCASTD philoxConst<>+12(SB), Z13
	MOVL         $0xAAAA, AX
	KMOVW        AX, K1

loop5:
	VMOVDQU32 0(DI), Z0
	VMOVDQU32 512(DI), Z1
	VMOVDQU32 1024(DI), Z2
	VMOVDQU32 1536(DI), Z3
	VMOVDQU32 2048(DI), Z8
	VMOVDQU32 2560(DI), Z9
	ROUND5(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7)
	BUMP5
	ROUND5(Z4, Z5, Z6, Z7, Z0, Z1, Z2, Z3)
	BUMP5
	ROUND5(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7)
	BUMP5
	ROUND5(Z4, Z5, Z6, Z7, Z0, Z1, Z2, Z3)
	BUMP5
	ROUND5(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7)
	BUMP5
	ROUND5(Z4, Z5, Z6, Z7, Z0, Z1, Z2, Z3)
	BUMP5
	ROUND5(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7)
	BUMP5
	ROUND5(Z4, Z5, Z6, Z7, Z0, Z1, Z2, Z3)
	BUMP5
	ROUND5(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7)
	BUMP5
	ROUND5(Z4, Z5, Z6, Z7, Z0, Z1, Z2, Z3)
	VMOVDQU32 Z0, 0(DI)
	VMOVDQU32 Z1, 512(DI)
	VMOVDQU32 Z2, 1024(DI)
	VMOVDQU32 Z3, 1536(DI)
	ADDQ      $64, DI
	DECQ      CX
	JNZ       loop5
	VZEROUPPER

done5:
	RET
